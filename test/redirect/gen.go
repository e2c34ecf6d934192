package redirect

// The fixture is compiled like the probes (see bpf/gen.go); its object and
// bindings are committed, so the tests need no clang.
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type endpoint -type egress_mode -type stat -type delivery datapath c/datapath.c
