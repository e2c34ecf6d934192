package plugin

import (
	"time"

	"github.com/podint/podint/internal/registration"
)

// daemonTimeout bounds all of one plugin call's exchanges with the daemon,
// dial included: pod creation must never wait long on podint.
const daemonTimeout = 2 * time.Second

// withDaemon connects to the daemon and runs fn with the connection; all
// of fn's calls share one deadline, so a hung daemon costs a verb
// daemonTimeout, not that per call. The plugin speaks the registration
// protocol, not gRPC: it is exec'd once per pod and must start fast.
func withDaemon(socket string, fn func(*registration.Client) error) error {
	c, err := registration.Dial(socket, time.Now().Add(daemonTimeout))
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// daemonUnreachable tells a daemon that is down or not answering (a
// transient condition: CNI code 11) from one that answered with an error.
func daemonUnreachable(err error) bool { return registration.Unreachable(err) }
