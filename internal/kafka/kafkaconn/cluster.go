package kafkaconn

import "github.com/twmb/franz-go/pkg/kgo"

// Cluster is a Kafka cluster and how to connect to it.
type Cluster struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Opts are the connection options (Config.Opts).
	Opts []kgo.Opt
	// Config is what Opts were made of; it logs without the password.
	Config Config
}

// NewClient makes a client of the cluster with the client's own opts.
func (c Cluster) NewClient(opts ...kgo.Opt) (*kgo.Client, error) {
	return NewClient(c.Brokers, c.Opts, opts...)
}

// NewCluster returns the cluster at brokers reached as c says (its
// mechanism's name made canonical); it reads c's certificate files.
func NewCluster(brokers []string, c Config) (Cluster, error) {
	if m := canonical(c.Mechanism); m != "" {
		c.Mechanism = m
	}
	opts, err := c.Opts()
	if err != nil {
		return Cluster{}, err
	}
	return Cluster{Brokers: brokers, Opts: opts, Config: c}, nil
}
