package plugin

import (
	"io"
	"log/slog"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
)

// logger writes to stderr, which the runtime keeps, and to the config's
// logFile when there is one. stdout carries the result and nothing else.
// Each record is one write, so the lines of concurrent plugin calls
// appending to one file do not interleave.
func logger(conf *NetConf, args *skel.CmdArgs) (*slog.Logger, func()) {
	var w io.Writer = os.Stderr
	closeFn := func() {}
	var openErr error
	if conf.LogFile != "" {
		f, err := os.OpenFile(conf.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			w = io.MultiWriter(os.Stderr, f)
			closeFn = func() { f.Close() }
		}
		openErr = err
	}
	log := slog.New(slog.NewTextHandler(w, nil)).With("plugin", "podint",
		"command", os.Getenv("CNI_COMMAND"), "container", args.ContainerID, "ifname", args.IfName)
	if openErr != nil {
		log.Warn("cannot open logFile; logging to stderr only", "logFile", conf.LogFile, "err", openErr)
	}
	return log, closeFn
}
