//go:build !linux

package impair

import (
	"context"
	"errors"
)

// ErrSetup reports that the bridge could not open or configure a leg.
var ErrSetup = errors.New("impair: setup failed")

// Run needs Linux (AF_PACKET); elsewhere it fails at once.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if err := cfg.validate(); err != nil {
		return Stats{}, err
	}
	return Stats{}, errors.Join(ErrSetup, errors.New("impair: the bridge needs Linux AF_PACKET sockets"))
}
