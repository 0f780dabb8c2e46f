// Package clusterview answers GET /{stage}/cluster: the workers of the group,
// the partitions each owns, the standby copies each keeps, their lag, and
// whether each is restoring (from the status topic, see Statuses).
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
	"github.com/counter-dev/counter/internal/pipeline/workerstatus"
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
	// Status is what the worker's latest status record (topic
	// counter_worker_status) says: StatusReady (it has restored every
	// partition it owns), StatusRestoring (it is restoring the partitions
	// of Restore), StatusStarting (not ready, restoring nothing yet: it is
	// joining the group or about to restore), or StatusUnknown (no status
	// read, or one older than workerstatus.MaxAge: the worker does not
	// write it, or its clock is far off). Unknown is not restoring.
	Status string `json:"status"`
	// Restoring is Status == StatusRestoring.
	Restoring bool `json:"restoring"`
	// Restore lists the partitions of video_clicks_partitioned being
	// restored, in partition order: changelog records replayed so far
	// (restored) of those to replay (total; 0 when there is none, the
	// state is being loaded from the local store). Empty unless restoring.
	Restore []workerstatus.Restore `json:"restore"`
	// StatusAt is when the worker wrote its status (by its clock); absent
	// when unknown.
	StatusAt *time.Time `json:"status_at,omitempty"`
}

// The values of Worker.Status.
const (
	StatusReady     = "ready"
	StatusRestoring = "restoring"
	StatusStarting  = "starting"
	StatusUnknown   = "unknown"
)

// joinStatus fills the status fields of wk from st (ok: one was read),
// as of now.
func (wk *Worker) joinStatus(st workerstatus.Status, ok bool, now time.Time) {
	wk.Status, wk.Restoring, wk.Restore, wk.StatusAt = StatusUnknown, false, []workerstatus.Restore{}, nil
	if !ok || !st.Fresh(now) {
		return
	}
	at := st.At
	wk.StatusAt = &at
	switch {
	case len(st.Restoring) > 0:
		wk.Status, wk.Restoring, wk.Restore = StatusRestoring, true, st.Restoring
	case st.Ready:
		wk.Status = StatusReady
	default:
		wk.Status = StatusStarting
	}
}

// Handler serves the view of group; replicas must match the workers'
// --standby-replicas, statuses gives the workers' statuses (nil: all
// unknown). Requests whose {stage} is not stage get 404.
func Handler(adm *kadm.Client, group, stage string, replicas int, statuses StatusSource) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("stage") != stage {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown stage " + r.PathValue("stage")})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		v, err := Describe(ctx, adm, group, replicas, statuses)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "cannot describe the cluster: " + err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// Describe builds the view of group, each worker joined with its latest
// status from statuses (nil: all unknown).
func Describe(ctx context.Context, adm *kadm.Client, group string, replicas int, statuses StatusSource) (View, error) {
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
	now := time.Now()
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
		var st workerstatus.Status
		found := false
		if statuses != nil {
			st, found = statuses.Status(wk.ID)
		}
		wk.joinStatus(st, found, now)
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
