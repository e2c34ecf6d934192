package main

import "context"

func measureDropCost(ctx context.Context, b *bench) (section, error)            { return section{}, nil }
func measureThroughputAndVolume(ctx context.Context, b *bench) (section, error) { return section{}, nil }
func measurePipeline(ctx context.Context, b *bench) (section, error)            { return section{}, nil }
func measureCNILatency(ctx context.Context, b *bench) (section, error)          { return section{}, nil }
func measureMemory(ctx context.Context, b *bench) (section, error)              { return section{}, nil }
