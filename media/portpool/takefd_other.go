//go:build !linux

package portpool

import "errors"

func closeFD(int) error { return errors.New("rtp port: no descriptor to close") }
