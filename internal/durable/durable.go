// Package durable writes files so that a crash leaves the old content or
// the new, never a part of it: the bytes go to a temporary file beside the
// target, which is synced, renamed into place, and the folder synced, so
// the new name survives a power loss too.
package durable

import (
	"os"
	"path"
	"path/filepath"
)

// TempSuffix ends the name of a file being written (".name.tmp"). Whoever
// lists the folder skips such names; its owner may delete them at start,
// since no write that reached its rename is among them.
const TempSuffix = ".tmp"

// WriteFile writes b to name (slash-separated, inside root) with perm. It
// returns once the file and its folder are synced; on an error the
// temporary file is removed and an earlier file under name is unchanged.
// It is safe for concurrent use with other names.
func WriteFile(root *os.Root, name string, b []byte, perm os.FileMode) error {
	dir := path.Dir(name)
	tmp := path.Join(dir, "."+path.Base(name)+TempSuffix)
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return err
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// WritePath is WriteFile for a path of the file system.
func WritePath(p string, b []byte, perm os.FileMode) error {
	root, err := os.OpenRoot(filepath.Dir(p))
	if err != nil {
		return err
	}
	defer root.Close()
	return WriteFile(root, filepath.Base(p), b, perm)
}
