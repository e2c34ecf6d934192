package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/podint/podint/test/tools"
)

// PostgresBin is where Debian's postgresql-15 installs the server's
// programs (they are not in PATH).
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Postgres is a private PostgreSQL server for one test: its own data
// directory and unix socket under a temporary directory, no TCP, no system
// service. As root, it runs as the postgres user (initdb refuses root).
type Postgres struct {
	Dir  string // data directory and socket live here
	cred *syscall.Credential
	log  string
}

// NewPostgres creates and starts a server in a new temporary directory
// (directly under the system's, so the postgres user can reach it); Close
// stops it and removes the directory.
func NewPostgres(ctx context.Context) (_ *Postgres, err error) {
	initdb, pgctl := filepath.Join(PostgresBin, "initdb"), filepath.Join(PostgresBin, "pg_ctl")
	if err := tools.Need(initdb, pgctl, filepath.Join(PostgresBin, "postgres")); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", Prefix+"pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Dir: dir, log: filepath.Join(dir, "server.log")}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if err := os.MkdirAll(filepath.Join(p.Dir, "data"), 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user (Debian package postgresql-15 creates it): %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{p.Dir, filepath.Join(p.Dir, "data")} {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	if err := p.run(ctx, initdb, "-D", filepath.Join(p.Dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		return nil, err
	}
	return p, p.Start(ctx)
}

func (p *Postgres) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	cmd.Dir = p.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %v: %w\n%s", filepath.Base(name), args, err, out)
	}
	return nil
}

// Start starts the server (again) and waits until it accepts connections.
func (p *Postgres) Start(ctx context.Context) error {
	opts := fmt.Sprintf("-c listen_addresses='' -k %s -c fsync=off -c full_page_writes=off", p.Dir)
	err := p.run(ctx, filepath.Join(PostgresBin, "pg_ctl"), "-D", filepath.Join(p.Dir, "data"), "-l", p.log, "-o", opts, "-w", "start")
	if err != nil {
		log, _ := os.ReadFile(p.log)
		return errors.Join(err, fmt.Errorf("server log:\n%s", log))
	}
	return nil
}

// Stop stops the server (fast shutdown: sessions are disconnected).
func (p *Postgres) Stop(ctx context.Context) error {
	return p.run(ctx, filepath.Join(PostgresBin, "pg_ctl"), "-D", filepath.Join(p.Dir, "data"), "-m", "fast", "-w", "stop")
}

// DSN is the connection string of the server's postgres database.
func (p *Postgres) DSN() string {
	return fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=disable", p.Dir)
}

// Close stops the server if it runs and removes its directory.
func (p *Postgres) Close() error {
	var err error
	if _, serr := os.Stat(filepath.Join(p.Dir, "data", "postmaster.pid")); serr == nil {
		err = p.Stop(context.Background())
	}
	return errors.Join(err, os.RemoveAll(p.Dir))
}
