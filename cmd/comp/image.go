package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/runtime"
)

// newImageCmd is `comp image`: the runtime's images, whatever project they serve.
func newImageCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage the runtime's images"}
	var input string
	load := &cobra.Command{
		Use:   "load [-i FILE]",
		Short: "Load images from a docker-archive or OCI-layout tarball (default: standard input)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageLoad(cmd.Context(), g, input)
		},
	}
	load.Flags().StringVarP(&input, "input", "i", "", "Read from a tar archive file, instead of STDIN")
	var quiet bool
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageLs(cmd.Context(), g, quiet)
		},
	}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	var force bool
	rm := &cobra.Command{
		Use:   "rm IMAGE...",
		Short: "Remove images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageRm(cmd.Context(), g, args, force)
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "Remove images even when containers use them")
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove untagged images that no container uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImagePrune(cmd.Context(), g)
		},
	}
	cmd.AddCommand(load, ls, rm, prune)
	return cmd
}

func runImageLoad(ctx context.Context, g *globalOptions, input string) error {
	rt, err := g.runtime(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	var r io.Reader = g.streams.In
	if input != "" {
		f, err := os.Open(input)
		if err != nil {
			return fmt.Errorf("image load: %w", err)
		}
		defer f.Close()
		r = f
	}
	imgs, err := rt.LoadImages(ctx, r)
	if err != nil {
		return fmt.Errorf("image load: %w", err)
	}
	for _, img := range imgs {
		name := img.ID
		if len(img.RepoTags) > 0 {
			name = strings.Join(img.RepoTags, ", ")
		}
		fmt.Fprintf(g.streams.Out, "Loaded image: %s\n", name)
	}
	return nil
}

func runImageLs(ctx context.Context, g *globalOptions, quiet bool) error {
	rt, err := g.runtime(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	imgs, err := rt.ListImages(ctx)
	if err != nil {
		return err
	}
	if quiet {
		for _, img := range imgs {
			fmt.Fprintln(g.streams.Out, img.ID)
		}
		return nil
	}
	w := tabwriter.NewWriter(g.streams.Out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tSIZE")
	for _, img := range imgs {
		tags := img.RepoTags
		if len(tags) == 0 {
			tags = []string{"<none>:<none>"}
		}
		for _, ref := range tags {
			repo, tag := splitTag(ref)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", repo, tag, shortImageID(img.ID), units.HumanSizeWithPrecision(float64(img.Size), 3))
		}
	}
	return w.Flush()
}

func runImageRm(ctx context.Context, g *globalOptions, refs []string, force bool) error {
	rt, err := g.runtime(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	var errs []error
	for _, ref := range refs {
		if err := rt.RemoveImage(ctx, ref, force); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(g.streams.Out, "Deleted: %s\n", ref)
	}
	return errors.Join(errs...)
}

func runImagePrune(ctx context.Context, g *globalOptions) error {
	rt, err := g.runtime(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	removed, err := rt.PruneImages(ctx)
	for _, r := range removed {
		fmt.Fprintf(g.streams.Out, "Deleted: %s\n", r)
	}
	return err
}

// newVolumeCmd is `comp volume`: the runtime's volumes.
func newVolumeCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage the runtime's volumes"}
	var quiet bool
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the volumes of comp's projects (of this project with -p)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime(cmd.Context())
			if err != nil {
				return err
			}
			defer rt.Close()
			vs, err := rt.ListVolumes(cmd.Context(), runtime.ListOptions{Project: g.projectName})
			if err != nil {
				return err
			}
			if quiet {
				for _, v := range vs {
					fmt.Fprintln(g.streams.Out, v.Name)
				}
				return nil
			}
			w := tabwriter.NewWriter(g.streams.Out, 0, 0, 3, ' ', 0)
			fmt.Fprintln(w, "DRIVER\tVOLUME NAME\tPROJECT")
			for _, v := range vs {
				fmt.Fprintf(w, "%s\t%s\t%s\n", v.Driver, v.Name, v.Labels[runtime.LabelProject])
			}
			return w.Flush()
		},
	}
	ls.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display volume names")
	var force bool
	rm := &cobra.Command{
		Use:   "rm VOLUME...",
		Short: "Remove volumes (their data is lost)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.runtime(cmd.Context())
			if err != nil {
				return err
			}
			defer rt.Close()
			var errs []error
			for _, name := range args {
				if err := rt.RemoveVolume(cmd.Context(), name, force); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(g.streams.Out, name)
			}
			return errors.Join(errs...)
		},
	}
	rm.Flags().BoolVarP(&force, "force", "f", false, "Remove volumes even when containers use them")
	cmd.AddCommand(ls, rm)
	return cmd
}
