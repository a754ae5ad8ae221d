package main

import (
	"context"
	"log/slog"

	"luapbx/engine/admin"
	"luapbx/engine/reload"
)

// sipService is the SIP side of serve.
type sipService struct{}

func startSIP(ctx context.Context, log *slog.Logger, mgr *reload.Manager, trace bool) (*sipService, error) {
	return &sipService{}, nil
}

func (s *sipService) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (s *sipService) Addrs() []string               { return nil }
func (s *sipService) RegisterAdmin(*admin.Server)   {}
func (s *sipService) Close()                        {}
