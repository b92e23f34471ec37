// Command pausewatch-interop checks pausewatch's notes, checkpoints, cosignatures and Merkle
// proofs with the Go reference implementation (golang.org/x/mod/sumdb/note and sumdb/tlog).
//
// It reads one JSON object {"ops": [...]} on stdin and writes {"results": [...]} on stdout,
// one result per op, in order. Each result has "ok" and, when not ok, "error". Built by
// tests/test_interop_go.py in GOPATH mode against the Debian package golang-golang-x-mod-dev.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type op struct {
	Op            string   `json:"op"`
	Vkeys         []string `json:"vkeys"`
	CosignerVkeys []string `json:"cosigner_vkeys"`
	Note          string   `json:"note"`
	Skey          string   `json:"skey"`
	Name          string   `json:"name"`
	Text          string   `json:"text"`
	Entries       []string `json:"entries"` // base64
	Entry         string   `json:"entry"`   // base64
	Index         int64    `json:"index"`
	Size          int64    `json:"size"`
	OldSize       int64    `json:"old_size"`
	Root          string   `json:"root"`
	OldRoot       string   `json:"old_root"`
	Proof         []string `json:"proof"`
}

type result map[string]interface{}

// cosigner verifies C2SP tlog-cosignature/v1 Ed25519 signatures (type 0x04): the note
// signature is timestamp (u64 big-endian) || Ed25519 over "cosignature/v1\ntime <t>\n" || text.
type cosigner struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (c *cosigner) Name() string    { return c.name }
func (c *cosigner) KeyHash() uint32 { return c.hash }
func (c *cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > 1<<63-1 {
		return false
	}
	m := []byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t))
	return ed25519.Verify(c.key, append(m, msg...), sig[8:])
}

func newCosigner(vkey string) (*cosigner, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("malformed cosigner vkey")
	}
	h, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return nil, errors.New("malformed cosigner key hash")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return nil, errors.New("cosigner vkey is not an Ed25519 cosignature/v1 key")
	}
	sum := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	if binary.BigEndian.Uint32(sum[:4]) != uint32(h) {
		return nil, errors.New("cosigner key hash does not match")
	}
	return &cosigner{name: parts[0], hash: uint32(h), key: ed25519.PublicKey(raw[1:])}, nil
}

func verifiers(o op) (note.Verifiers, error) {
	var vs []note.Verifier
	for _, k := range o.Vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	for _, k := range o.CosignerVkeys {
		v, err := newCosigner(k)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}

func openNote(o op) (*note.Note, result, error) {
	vs, err := verifiers(o)
	if err != nil {
		return nil, nil, err
	}
	n, err := note.Open([]byte(o.Note), vs)
	if err != nil {
		return nil, nil, err
	}
	var signed []string
	for _, s := range n.Sigs {
		signed = append(signed, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	var unverified []string
	for _, s := range n.UnverifiedSigs {
		unverified = append(unverified, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	return n, result{"ok": true, "text": n.Text, "verified": signed, "unverified": unverified}, nil
}

// parseCheckpoint parses C2SP tlog-checkpoint note text independently of pausewatch.
func parseCheckpoint(text string) (origin string, size int64, root tlog.Hash, ext []string, err error) {
	if !strings.HasSuffix(text, "\n") {
		return "", 0, root, nil, errors.New("checkpoint does not end with newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return "", 0, root, nil, errors.New("checkpoint has fewer than 3 lines")
	}
	for _, l := range lines {
		if l == "" {
			return "", 0, root, nil, errors.New("empty checkpoint line")
		}
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, root, nil, errors.New("bad tree size")
	}
	root, err = tlog.ParseHash(lines[2])
	if err != nil {
		return "", 0, root, nil, err
	}
	return lines[0], size, root, lines[3:], nil
}

func hashes(b64 []string) ([]tlog.Hash, error) {
	var out []tlog.Hash
	for _, s := range b64 {
		h, err := tlog.ParseHash(s)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func b64hashes(hs []tlog.Hash) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.String())
	}
	return out
}

type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

func buildTree(entries []string) (memHashes, error) {
	var stored memHashes
	for i, e := range entries {
		data, err := base64.StdEncoding.DecodeString(e)
		if err != nil {
			return nil, err
		}
		hs, err := tlog.StoredHashes(int64(i), data, stored)
		if err != nil {
			return nil, err
		}
		stored = append(stored, hs...)
	}
	return stored, nil
}

func run(o op) (result, error) {
	switch o.Op {
	case "open_note":
		_, r, err := openNote(o)
		return r, err
	case "open_checkpoint":
		n, r, err := openNote(o)
		if err != nil {
			return nil, err
		}
		origin, size, root, ext, err := parseCheckpoint(n.Text)
		if err != nil {
			return nil, err
		}
		r["origin"], r["size"], r["root"], r["extensions"] = origin, size, root.String(), ext
		return r, nil
	case "sign_note":
		s, err := note.NewSigner(o.Skey)
		if err != nil {
			return nil, err
		}
		msg, err := note.Sign(&note.Note{Text: o.Text}, s)
		if err != nil {
			return nil, err
		}
		return result{"ok": true, "note": string(msg)}, nil
	case "generate_key":
		skey, vkey, err := note.GenerateKey(rand.Reader, o.Name)
		if err != nil {
			return nil, err
		}
		return result{"ok": true, "skey": skey, "vkey": vkey}, nil
	case "check_inclusion":
		data, err := base64.StdEncoding.DecodeString(o.Entry)
		if err != nil {
			return nil, err
		}
		root, err := tlog.ParseHash(o.Root)
		if err != nil {
			return nil, err
		}
		p, err := hashes(o.Proof)
		if err != nil {
			return nil, err
		}
		err = tlog.CheckRecord(tlog.RecordProof(p), o.Size, root, o.Index, tlog.RecordHash(data))
		return result{"ok": err == nil}, err
	case "check_consistency":
		root, err := tlog.ParseHash(o.Root)
		if err != nil {
			return nil, err
		}
		old, err := tlog.ParseHash(o.OldRoot)
		if err != nil {
			return nil, err
		}
		p, err := hashes(o.Proof)
		if err != nil {
			return nil, err
		}
		err = tlog.CheckTree(tlog.TreeProof(p), o.Size, root, o.OldSize, old)
		return result{"ok": err == nil}, err
	case "prove":
		stored, err := buildTree(o.Entries)
		if err != nil {
			return nil, err
		}
		root, err := tlog.TreeHash(o.Size, stored)
		if err != nil {
			return nil, err
		}
		r := result{"ok": true, "root": root.String()}
		if o.Index < o.Size {
			rp, err := tlog.ProveRecord(o.Size, o.Index, stored)
			if err != nil {
				return nil, err
			}
			r["inclusion"] = b64hashes(rp)
		}
		if o.OldSize > 0 && o.OldSize <= o.Size {
			tp, err := tlog.ProveTree(o.Size, o.OldSize, stored)
			if err != nil {
				return nil, err
			}
			r["consistency"] = b64hashes(tp)
		}
		return r, nil
	}
	return nil, fmt.Errorf("unknown op %q", o.Op)
}

func main() {
	var req struct {
		Ops []op `json:"ops"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "pausewatch-interop: bad request:", err)
		os.Exit(2)
	}
	results := []result{}
	for _, o := range req.Ops {
		r, err := run(o)
		if err != nil {
			r = result{"ok": false, "error": err.Error()}
		}
		results = append(results, r)
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"results": results}); err != nil {
		os.Exit(2)
	}
}
