package bpf

// The probes are compiled with Debian's clang-19; the generated objects and
// bindings are committed so that building podint needs no clang.
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type event -type flow_key -type flow_state -type settings -type counter -type event_type -type event_cause -type watch_rule -type drop_key -type drop_state -type snap -type drop_action -type ct_dir -type pod_port_key probe c/probe.c
//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel drop c/drop.c
