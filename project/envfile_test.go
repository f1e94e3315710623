package project

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestComposeEnvFilesIsAnEnvFileListWhenNoFlagGivesOne(t *testing.T) {
	path := write(t, `
services:
  web:
    image: busybox:${TAG}
    environment:
      FROM: ${FROM}
`)
	dir := filepath.Dir(path)
	writeFile(t, dir, ".env", "TAG=dotenv\nFROM=dotenv\n")
	one := writeFile(t, dir, "one.env", "TAG=one\nFROM=one\n")
	two := writeFile(t, dir, "two.env", "FROM=two\n")
	flag := writeFile(t, dir, "flag.env", "TAG=flag\nFROM=flag\n")
	t.Setenv("COMPOSE_ENV_FILES", one+","+two)

	load := func(flags ...string) (image, from string, files []string) {
		t.Helper()
		p, err := Load(context.Background(), Options{Files: []string{path}, EnvFiles: flags})
		if err != nil {
			t.Fatal(err)
		}
		web, _ := p.GetService("web")
		return web.Image, *web.Environment["FROM"], p.EnvFiles
	}
	if image, from, files := load(); image != "busybox:one" || from != "two" || !slices.Equal(files, []string{one, two}) {
		t.Errorf("with COMPOSE_ENV_FILES: image %s, FROM=%s, env files %q; want busybox:one, two (the later file wins), both files", image, from, files)
	}
	if image, from, _ := load(flag); image != "busybox:flag" || from != "flag" {
		t.Errorf("with --env-file: image %s, FROM=%s; want the flag's file over COMPOSE_ENV_FILES", image, from)
	}
	t.Setenv("COMPOSE_ENV_FILES", "")
	if image, _, _ := load(); image != "busybox:dotenv" {
		t.Errorf("without either: image %s, want .env's", image)
	}
}

func TestEnvFileFormatRawTakesValuesAsTheyAre(t *testing.T) {
	path := write(t, `
services:
  web:
    image: busybox
    env_file:
      - path: raw.env
        format: raw
      - path: dotenv.env
`)
	dir := filepath.Dir(path)
	writeFile(t, dir, "raw.env", "# a comment\nQUOTED=\"kept\"\nDOLLAR=${NOT_EXPANDED}\n  SPACES=  both ends  \nFROM_HOST\n")
	writeFile(t, dir, "dotenv.env", "PARSED=\"unquoted\"\n")
	t.Setenv("FROM_HOST", "host value")
	spec := firstSpec(t, path, "web")
	for _, want := range []string{`QUOTED="kept"`, "DOLLAR=${NOT_EXPANDED}", "SPACES=  both ends  ", "FROM_HOST=host value", "PARSED=unquoted"} {
		if !slices.Contains(spec.Env, want) {
			t.Errorf("env %q lacks %q", spec.Env, want)
		}
	}
}

func TestLabelFileLabelsTheContainers(t *testing.T) {
	path := write(t, `
services:
  web:
    image: busybox
    label_file: [./web.labels]
    labels: {team: from-compose}
`)
	writeFile(t, filepath.Dir(path), "web.labels", "team=from-file\ntier=backend\n")
	spec := firstSpec(t, path, "web")
	if spec.Labels["tier"] != "backend" || spec.Labels["team"] != "from-compose" {
		t.Errorf("labels %v: want tier=backend from the file, team=from-compose (labels: wins)", spec.Labels)
	}
}

func TestUnknownEnvFileFormatSaysWhichOnesThereAre(t *testing.T) {
	path := write(t, `
services:
  web:
    image: busybox
    env_file:
      - path: x.env
        format: json
`)
	writeFile(t, filepath.Dir(path), "x.env", "A=1\n")
	_, err := Load(context.Background(), Options{Files: []string{path}})
	if err == nil || !strings.Contains(err.Error(), `unsupported env_file format "json": an env_file's format is dotenv (the default) or raw`) ||
		!strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want the format named, the ones there are, and the file", err)
	}
}
