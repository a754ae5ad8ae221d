package wav

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
)

// DefaultBufferSize is the Writer's bufio size: half a second of 8 kHz
// stereo 16-bit audio.
const DefaultBufferSize = 16 << 10

// Writer writes 16-bit PCM samples to a WAV file. It is not safe for
// concurrent use; one goroutine (e.g. the recorder's writer) owns it.
type Writer struct {
	f         *os.File
	bw        *bufio.Writer
	format    Format
	data      int64 // data bytes written so far (buffered included)
	synced    int64 // data bytes counted in the header on disk
	syncEvery int64 // rewrite the header after this many new data bytes
	scratch   []byte
	closed    bool
	err       error // first write error; sticky
}

// WriterOption configures a Writer.
type WriterOption func(*Writer)

// WithSyncEvery sets how much audio may accumulate between header
// rewrites (default one second, rounded to whole sample frames).
func WithSyncEvery(samplesPerChannel int) WriterOption {
	return func(w *Writer) {
		if samplesPerChannel > 0 {
			w.syncEvery = int64(samplesPerChannel) * int64(w.format.BlockAlign())
		}
	}
}

// Create creates (or truncates) path and writes a header for f, which must
// be 16-bit PCM with one or two channels.
func Create(path string, f Format, opts ...WriterOption) (*Writer, error) {
	if err := f.validateForWrite(); err != nil {
		return nil, err
	}
	file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wav: create: %w", err)
	}
	w := &Writer{
		f:         file,
		bw:        bufio.NewWriterSize(file, DefaultBufferSize),
		format:    f,
		syncEvery: int64(f.ByteRate()),
		scratch:   make([]byte, 0, 2048),
	}
	for _, o := range opts {
		o(w)
	}
	h := header(f, 0)
	if _, err := w.bw.Write(h[:]); err != nil {
		file.Close()
		return nil, fmt.Errorf("wav: write header: %w", err)
	}
	if err := w.bw.Flush(); err != nil {
		file.Close()
		return nil, fmt.Errorf("wav: write header: %w", err)
	}
	return w, nil
}

// Format returns the file's format.
func (w *Writer) Format() Format { return w.format }

// Frames returns the number of sample frames (samples per channel) written.
func (w *Writer) Frames() int64 { return w.data / int64(w.format.BlockAlign()) }

// WriteSamples appends interleaved samples (for stereo: left, right, left,
// ...). A stereo call must pass an even number of samples.
func (w *Writer) WriteSamples(s []int16) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("wav: write after close")
	}
	if len(s)%w.format.Channels != 0 {
		return fmt.Errorf("wav: %d samples is not a whole number of %d-channel frames", len(s), w.format.Channels)
	}
	for len(s) > 0 {
		n := min(len(s), cap(w.scratch)/2)
		b := w.scratch[:2*n]
		for i, v := range s[:n] {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		}
		if err := w.write(b); err != nil {
			return err
		}
		s = s[n:]
	}
	return w.maybeSync()
}

// WriteSilence appends frames sample frames of silence.
func (w *Writer) WriteSilence(frames int64) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("wav: write after close")
	}
	n := frames * int64(w.format.BlockAlign())
	zero := w.scratch[:cap(w.scratch)]
	clear(zero)
	for n > 0 {
		k := min(n, int64(len(zero)))
		if err := w.write(zero[:k]); err != nil {
			return err
		}
		n -= k
	}
	return w.maybeSync()
}

func (w *Writer) write(b []byte) error {
	if w.data+int64(len(b)) > math.MaxUint32-headerSize {
		w.err = fmt.Errorf("%w: file would exceed 4 GiB", ErrFormat)
		return w.err
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("wav: write: %w", err)
		return w.err
	}
	w.data += int64(len(b))
	return nil
}

func (w *Writer) maybeSync() error {
	if w.data-w.synced < w.syncEvery {
		return nil
	}
	return w.Flush()
}

// Flush writes buffered samples to the file and updates the header sizes.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("wav: flush: %w", err)
		return w.err
	}
	if err := writeSizes(w.f, headerSize-4, uint32(w.data)); err != nil {
		w.err = err
		return err
	}
	w.synced = w.data
	return nil
}

// writeSizes writes the RIFF size and the data size (whose field is at
// dataSizeAt) without moving the file offset.
func writeSizes(f *os.File, dataSizeAt int64, dataBytes uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(dataSizeAt)+4-8+dataBytes+dataBytes&1)
	if _, err := f.WriteAt(b[:], 4); err != nil {
		return fmt.Errorf("wav: update RIFF size: %w", err)
	}
	binary.LittleEndian.PutUint32(b[:], dataBytes)
	if _, err := f.WriteAt(b[:], dataSizeAt); err != nil {
		return fmt.Errorf("wav: update data size: %w", err)
	}
	return nil
}

// Close flushes, fixes the header and closes the file. It is safe to call
// more than once; later calls return nil.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	err := w.Flush()
	w.closed = true
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wav: close: %w", cerr)
	}
	return err
}
