package apinode

import (
	"time"

	"github.com/counter-dev/counter/internal/api"
	"github.com/counter-dev/counter/internal/apinode/web"
	"github.com/counter-dev/counter/internal/generator/plan"
	"github.com/counter-dev/counter/internal/live"
	"github.com/counter-dev/counter/internal/window"
)

// mountWeb serves the web page at / and its config route,
// GET /{stage}/config, on s.
func mountWeb(s *api.Server, stage string, sizes []window.Size, grace time.Duration) {
	cfg := web.Config{Stage: stage, GraceMs: grace.Milliseconds(), GeneratorSteps: plan.Steps}
	for _, sz := range sizes {
		cfg.Windows = append(cfg.Windows, web.Window{Label: sz.Label, SizeMs: sz.Millis, ConsumeEvent: live.ConsumeEvent(sz), LiveEvent: live.LiveEvent(sz)})
	}
	web.New(cfg).Mount(s)
}
