package plugin

import (
	"encoding/json"
	"io"
	"os"

	"github.com/containernetworking/cni/pkg/types"
)

// printPrevResult writes the previous plugin's result to stdout: podint
// adds nothing to a result.
func printPrevResult(conf *NetConf, stdin []byte) error {
	return writePrevResult(os.Stdout, conf, stdin)
}

// writePrevResult passes the prevResult through unchanged. When it is
// already in the config's version, its bytes are copied as received, so a
// decode and encode round trip cannot drop or reorder anything; otherwise
// it is converted to the config's version, as the spec requires.
func writePrevResult(w io.Writer, conf *NetConf, stdin []byte) error {
	if raw := rawPrevResult(stdin); raw != nil && resultVersion(raw) == conf.CNIVersion {
		_, err := w.Write(raw)
		return err
	}
	res, err := conf.PrevResult.GetAsVersion(conf.CNIVersion)
	if err != nil {
		return types.NewError(types.ErrIncompatibleCNIVersion, "podint: cannot convert prevResult", err.Error())
	}
	return res.PrintTo(w)
}

func rawPrevResult(stdin []byte) json.RawMessage {
	var c struct {
		PrevResult json.RawMessage `json:"prevResult"`
	}
	if json.Unmarshal(stdin, &c) != nil {
		return nil
	}
	return c.PrevResult
}

func resultVersion(raw json.RawMessage) string {
	var r struct {
		CNIVersion string `json:"cniVersion"`
	}
	_ = json.Unmarshal(raw, &r)
	return r.CNIVersion
}
