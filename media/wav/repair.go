package wav

import (
	"fmt"
	"io"
	"math"
	"os"
)

// Repair fixes the RIFF and data sizes of a WAV file left by a process
// that died while writing it: the data size becomes the file size minus
// the header (rounded down to whole sample frames, and the file is
// truncated to match). A file whose RIFF size already matches its length
// is left alone (it was closed properly, possibly with chunks after the
// data), so Repair is safe to run on every recording at start-up.
func Repair(path string) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wav: repair: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("wav: repair: %w", cerr)
		}
	}()
	l, err := parseHeader(f)
	if err != nil {
		return fmt.Errorf("wav: repair %s: %w", path, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("wav: repair: %w", err)
	}
	block := int64(l.format.BlockAlign())
	if block <= 0 {
		return fmt.Errorf("wav: repair %s: %w: block align 0", path, ErrFormat)
	}
	data := max(size-l.dataOffset, 0)
	data = data / block * block
	if data > math.MaxUint32-l.dataOffset {
		return fmt.Errorf("wav: repair %s: %w: file too large", path, ErrFormat)
	}
	if int64(l.riffSize) == size-8 && l.dataOffset+int64(l.dataSize) <= size {
		return nil
	}
	if l.dataOffset+data < size {
		if err := f.Truncate(l.dataOffset + data); err != nil {
			return fmt.Errorf("wav: repair: %w", err)
		}
	}
	if err := writeSizes(f, l.sizeFieldAt, uint32(data)); err != nil {
		return err
	}
	return nil
}
