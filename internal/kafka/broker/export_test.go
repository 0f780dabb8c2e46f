package broker

// WriteCommitIntent writes the commit-intent journal of a data dir as the
// EndTxn control function does, for tests that build a commit cut short by
// a crash.
func WriteCommitIntent(dataDir string, pid int64, epoch int16, group string, offsets map[string]map[int32]int64) error {
	b, err := jsonIntent(&commitIntent{ProducerID: pid, Epoch: epoch, EndTxnVersion: 5, Group: group, Offsets: offsets})
	if err != nil {
		return err
	}
	return writeFileAtomic(intentFile(dataDir), b)
}

// ReadCommitIntent reads the journal: producer id, epoch, group, offsets;
// ok is false when there is none.
func ReadCommitIntent(dataDir string) (pid int64, epoch int16, group string, offsets map[string]map[int32]int64, ok bool, err error) {
	in, err := readIntent(dataDir)
	if in == nil || err != nil {
		return 0, 0, "", nil, false, err
	}
	return in.ProducerID, in.Epoch, in.Group, in.Offsets, true, nil
}
