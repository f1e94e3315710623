package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/comp-dev/comp/logs"
)

type logsOptions struct {
	follow      bool
	tail        string
	timestamps  bool
	since       string
	until       string
	noColor     bool
	noLogPrefix bool
}

func newLogsCmd(g *globalOptions) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "View output from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), g, o, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "Follow log output")
	f.StringVarP(&o.tail, "tail", "n", "all", "Number of lines to show from the end of the logs for each container")
	f.BoolVarP(&o.timestamps, "timestamps", "t", false, "Show timestamps")
	f.StringVar(&o.since, "since", "", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	f.StringVar(&o.until, "until", "", "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	f.BoolVar(&o.noColor, "no-color", false, "Produce monochrome output")
	f.BoolVar(&o.noLogPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	return cmd
}

// logsExitGrace is how long logs -f waits, once nothing runs, for a container to come back.
const logsExitGrace = 2 * time.Second

func runLogs(ctx context.Context, g *globalOptions, o *logsOptions, services []string) error {
	now := time.Now()
	tail, err := parseTail(o.tail)
	if err != nil {
		return err
	}
	since, err := parseLogTime(o.since, now)
	if err != nil {
		return fmt.Errorf("invalid --since %q: %w", o.since, err)
	}
	until, err := parseLogTime(o.until, now)
	if err != nil {
		return fmt.Errorf("invalid --until %q: %w", o.until, err)
	}
	name, _, rt, err := g.openProject(ctx, services)
	if err != nil {
		return err
	}
	defer rt.Close()

	// Ctrl-C ends `logs -f`: that is how one stops following, not a failure.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	printer := logs.NewPrinter(g.streams.Out, logs.Options{
		Color:      g.streams.ColorOut() && !o.noColor,
		Prefix:     !o.noLogPrefix,
		Timestamps: o.timestamps,
	})
	opts := logs.FollowOptions{
		Project:  name,
		Services: services,
		Follow:   o.follow,
		Tail:     tail,
		Since:    since,
		Until:    until,
	}
	if o.follow {
		opts.OnExit = printer.Exited
		// -f ends once every followed container has exited and none will restart; a
		// restart (comp restart, a policy) comes back well within the grace.
		opts.UntilAllExit = true
		opts.ExitGrace = logsExitGrace
	}
	return logs.Follow(ctx, rt, opts, printer)
}

// parseTail reads --tail: "all" (or a negative number) for every line, else a line count.
func parseTail(s string) (int, error) {
	if s == "" || strings.EqualFold(s, "all") {
		return logs.TailAll, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid --tail %q: use a number of lines or all", s)
	}
	if n < 0 {
		return logs.TailAll, nil
	}
	return n, nil
}

// parseLogTime reads --since/--until as Docker does: a duration before now ("10m", "1h30m"),
// an RFC 3339 time with or without zone, a date, or Unix seconds. "" is no bound.
func parseLogTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		loc := time.Local
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		whole := int64(secs)
		return time.Unix(whole, int64((secs-float64(whole))*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("use a duration like 10m, an RFC 3339 time like 2013-01-02T13:23:37Z, or Unix seconds")
}
