package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Load builds the configuration from command line args; see Resolve.
func Load(args []string) (Config, error) {
	c := Default()
	cmdline := pflag.NewFlagSet("podintd", pflag.ContinueOnError)
	cmdline.SetOutput(&bytes.Buffer{}) // errors are returned, not printed
	c.BindFlags(cmdline)
	if err := cmdline.Parse(args); err != nil {
		return c, err
	}
	return Resolve(cmdline)
}

// Resolve builds the configuration as podintd sees it at start and on
// every reload: defaults, then the --config file, then PODINT_* variables,
// then the flags set on the command line (cmdline, parsed once by the
// caller), each overriding the one before. The result is validated; an
// error names the setting and where it came from.
func Resolve(cmdline *pflag.FlagSet) (Config, error) {
	c := Default()
	fs := pflag.NewFlagSet("podintd", pflag.ContinueOnError)
	c.BindFlags(fs)
	var errs []error
	cmdline.Visit(func(f *pflag.Flag) {
		if dst := fs.Lookup(f.Name); dst != nil {
			errs = append(errs, copyFlag(dst, f))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	if err := ApplyEnv(fs); err != nil {
		return c, err
	}
	if c.ConfigFile != "" {
		if err := ApplyFile(fs, c.ConfigFile); err != nil {
			return c, err
		}
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// copyFlag gives dst the value src was set to, and marks it set.
func copyFlag(dst, src *pflag.Flag) error {
	var err error
	if sv, ok := src.Value.(pflag.SliceValue); ok {
		err = dst.Value.(pflag.SliceValue).Replace(sv.GetSlice())
	} else {
		err = dst.Value.Set(src.Value.String())
	}
	if err != nil {
		return fmt.Errorf("--%s: %w", src.Name, err)
	}
	dst.Changed = true
	return nil
}

// ApplyFile sets every flag not already set (on the command line or from
// the environment) from the YAML file at path, whose keys are flag names:
//
//	collector: [10.0.0.50:32766]
//	report-interval: 2s
//	watchlist: /etc/podint/watchlist.yaml
func ApplyFile(fs *pflag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: not YAML: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // an empty file sets nothing
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of setting: value", path, top.Line)
	}
	var errs []error
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := top.Content[i], top.Content[i+1]
		f := fs.Lookup(key.Value)
		switch {
		case f == nil || key.Value == "config":
			errs = append(errs, fmt.Errorf("%s:%d: unknown setting %q (the keys are podintd's flag names, e.g. collector, report-interval)",
				path, key.Line, key.Value))
			continue
		case f.Changed:
			continue // the command line or the environment said otherwise
		}
		values, err := scalars(val)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, val.Line, key.Value, err))
			continue
		}
		if len(values) == 0 {
			// An empty list clears a repeatable setting.
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				_ = sv.Replace(nil)
				f.Changed = true
			}
			continue
		}
		for _, v := range values {
			if err := fs.Set(key.Value, v); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %q: %w", path, val.Line, key.Value, v, err))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// scalars returns a value or the items of a list of values.
func scalars(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, errors.New("want a list of plain values")
			}
			if strings.Contains(item.Value, ",") {
				return nil, fmt.Errorf("%q: a list item cannot hold a comma", item.Value)
			}
			out = append(out, item.Value)
		}
		return out, nil
	}
	return nil, errors.New("want a value or a list of values")
}
