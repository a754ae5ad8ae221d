package main

import (
	"context"
	"io"

	"luapbx/engine/phone"
)

func phoneCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return phone.Main(ctx, args, stdout, stderr)
}
