package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/counter-dev/counter/internal/kafka/kafkaconn"
)

// User is a SASL user of the embedded broker.
type User struct {
	Name, Password string
}

// LogValue keeps the password out of logs.
func (u User) LogValue() slog.Value { return slog.StringValue(u.Name) }

// String keeps the password out of printed values.
func (u User) String() string { return u.Name }

// MarshalJSON keeps the password out of JSON (a JSON log of a User): a User
// marshals as its name.
func (u User) MarshalJSON() ([]byte, error) { return json.Marshal(u.Name) }

// savedUsers is the file where kfake saves its SASL users at a stop
// (pkg/kfake/persist.go: saveSASL), PLAIN passwords in clear.
const savedUsers = "sasl.json"

// saslOptions returns kfake's options for users (none when there are none)
// and the SASL options of the broker's own clients. With a data dir, it
// first removes the users kfake saved at its last stop: kfake would load
// them over the configured ones, so that an old password would still be
// accepted and a new one refused.
func saslOptions(users []User, dataDir string) ([]kfake.Opt, []kgo.Opt, error) {
	if err := forgetUsers(dataDir); err != nil {
		return nil, nil, err
	}
	if len(users) == 0 {
		return nil, nil, nil
	}
	opts := []kfake.Opt{kfake.EnableSASL()}
	for _, u := range users {
		if u.Name == "" || u.Password == "" {
			return nil, nil, errors.New("embedded broker: a SASL user needs a name and a password")
		}
		for _, m := range kafkaconn.Mechanisms {
			opts = append(opts, kfake.Superuser(m, u.Name, u.Password))
		}
	}
	self, err := kafkaconn.Config{Mechanism: kafkaconn.ScramSHA256, User: users[0].Name, Password: users[0].Password}.Opts()
	if err != nil {
		return nil, nil, err
	}
	return opts, self, nil
}

// forgetUsers removes the users kfake saved in dataDir, if any.
func forgetUsers(dataDir string) error {
	if dataDir == "" {
		return nil
	}
	if err := os.Remove(filepath.Join(dataDir, savedUsers)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("embedded broker: removing the saved SASL users: %w", err)
	}
	return nil
}
