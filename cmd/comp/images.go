package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/planner"
	"github.com/comp-dev/comp/runtime"
)

type imagesOptions struct {
	quiet  bool
	format string
}

func newImagesCmd(g *globalOptions) *cobra.Command {
	o := &imagesOptions{}
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [SERVICE...]",
		Short: "List images used by the created containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImages(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.quiet, "quiet", "q", false, "Only display IDs")
	f.StringVar(&o.format, "format", "table", "Format the output. Values: [table | json]")
	return cmd
}

// containerImage is one line of `images`: a container and the image it runs, with the JSON
// names Compose uses.
type containerImage struct {
	ID            string
	ContainerName string
	Repository    string
	Tag           string
	Size          int64
	Created       time.Time
}

func runImages(ctx context.Context, g *globalOptions, o *imagesOptions, services []string) error {
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("invalid --format %q: use table or json", o.format)
	}
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()
	cs, err := projectContainers(ctx, rt, name, true, oneoffInclude)
	if err != nil {
		return err
	}
	cs = planner.Select(cs, services)
	var rows []containerImage
	for _, c := range cs {
		ref := c.ImageID
		if ref == "" {
			ref = c.Image
		}
		img, err := rt.InspectImage(ctx, ref)
		if errors.Is(err, runtime.ErrNotFound) {
			continue // removed since: the container lists no image
		}
		if err != nil {
			return fmt.Errorf("image of container %s: %w", c.Name, err)
		}
		rows = append(rows, imageRow(c, img))
	}
	return printImages(g.streams.Out, rows, o)
}

// imageRow pairs c with its image, naming the image by the tag c was created from when the image
// still has it, else by its first tag.
func imageRow(c runtime.Container, img runtime.Image) containerImage {
	row := containerImage{ID: img.ID, ContainerName: c.Name, Repository: "<none>", Tag: "<none>", Size: img.Size, Created: img.Created}
	tags := img.RepoTags
	if want := normalizedRef(c.Image); want != "" {
		for _, t := range img.RepoTags {
			if normalizedRef(t) == want {
				tags = []string{t}
				break
			}
		}
	}
	if len(tags) > 0 {
		row.Repository, row.Tag = splitTag(tags[0])
	}
	return row
}

// normalizedRef is ref in full (docker.io/library/nginx:latest), or "" when it does not parse.
func normalizedRef(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	return reference.TagNameOnly(named).String()
}

// splitTag splits repo:tag at the colon after the last slash.
func splitTag(ref string) (string, string) {
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return ref, "<none>"
	}
	return ref[:i], ref[i+1:]
}

// shortImageID is the 12-digit image ID `docker images` shows.
func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func printImages(w io.Writer, rows []containerImage, o *imagesOptions) error {
	switch {
	case o.quiet:
		var seen []string
		for _, r := range rows {
			id := strings.TrimPrefix(r.ID, "sha256:")
			if !slices.Contains(seen, id) {
				seen = append(seen, id)
				fmt.Fprintln(w, id)
			}
		}
		return nil
	case o.format == "json":
		if rows == nil {
			rows = []containerImage{}
		}
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tREPOSITORY\tTAG\tIMAGE ID\tSIZE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ContainerName, r.Repository, r.Tag, shortImageID(r.ID), units.HumanSizeWithPrecision(float64(r.Size), 3))
	}
	return tw.Flush()
}
