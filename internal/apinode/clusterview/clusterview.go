// Package clusterview answers GET /{stage}/cluster: the workers of the group,
// the partitions each owns, the standby copies each keeps, and their lag.
package clusterview

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/counter-dev/counter/internal/pipeline/standby"
	"github.com/counter-dev/counter/internal/pipeline/topics"
)

// View is the JSON answer.
type View struct {
	Group    string   `json:"group"`
	State    string   `json:"state"` // Stable, PreparingRebalance, Empty, ...
	Workers  []Worker `json:"workers"`
	TotalLag int64    `json:"total_lag"`
}

// Worker is one member of the workers' group.
type Worker struct {
	ID         string             `json:"id"`
	InstanceID string             `json:"instance_id,omitempty"`
	Host       string             `json:"host"`
	Partitions map[string][]int32 `json:"partitions"` // topic -> partitions owned
	Standbys   []int32            `json:"standbys"`   // partitions of video_clicks_partitioned kept warm
	Lag        map[string]int64   `json:"lag"`        // topic -> records behind
}

// Handler serves the view of group; replicas must match the workers'
// --standby-replicas. Requests whose {stage} is not stage get 404.
func Handler(adm *kadm.Client, group, stage string, replicas int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("stage") != stage {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown stage " + r.PathValue("stage")})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		v, err := Describe(ctx, adm, group, replicas)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "cannot describe the cluster: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// Describe builds the view of group.
func Describe(ctx context.Context, adm *kadm.Client, group string, replicas int) (View, error) {
	lags, err := adm.Lag(ctx, group)
	if err != nil {
		return View{}, err
	}
	g, ok := lags[group]
	if !ok {
		return View{Group: group, State: "Dead", Workers: []Worker{}}, nil
	}
	if err := g.Error(); err != nil {
		return View{}, err
	}
	v := View{Group: group, State: g.State, Workers: []Worker{}}
	byClient := map[string]*Worker{}
	var workers []*Worker
	var members []standby.Member
	for _, m := range g.Members {
		wk := Worker{
			ID:         strings.TrimPrefix(m.ClientID, topics.WorkerClientIDPrefix),
			Host:       strings.TrimPrefix(m.ClientHost, "/"),
			Partitions: map[string][]int32{},
			Standbys:   []int32{},
			Lag:        map[string]int64{},
		}
		if m.InstanceID != nil {
			wk.InstanceID = *m.InstanceID
		}
		mem := standby.Member{ID: m.ClientID}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range ca.Topics {
				parts := append([]int32(nil), t.Partitions...)
				sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
				wk.Partitions[t.Topic] = parts
				if t.Topic == topics.Partitioned {
					mem.Owned = parts
				}
			}
		}
		members = append(members, mem)
		workers = append(workers, &wk)
		byClient[m.ClientID] = &wk
	}
	for id, parts := range standby.Plan(members, replicas) {
		if wk := byClient[id]; wk != nil {
			wk.Standbys = parts
		}
	}
	for topic, parts := range g.Lag {
		for _, l := range parts {
			if l.Lag < 0 {
				continue
			}
			v.TotalLag += l.Lag
			if l.Member != nil {
				if wk := byClient[l.Member.ClientID]; wk != nil {
					wk.Lag[topic] += l.Lag
				}
			}
		}
	}
	for _, wk := range workers {
		v.Workers = append(v.Workers, *wk)
	}
	sort.Slice(v.Workers, func(i, j int) bool { return v.Workers[i].ID < v.Workers[j].ID })
	return v, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
