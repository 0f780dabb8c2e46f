package apinode

import (
	"time"

	"github.com/counter-dev/counter/internal/apinode/api"
	"github.com/counter-dev/counter/internal/apinode/generator/plan"
	"github.com/counter-dev/counter/internal/apinode/live"
	"github.com/counter-dev/counter/internal/apinode/web"
	"github.com/counter-dev/counter/internal/pipeline/window"
)

// mountWeb serves the web page at / and its config route,
// GET /{stage}/config, on s. The page follows the window events
// (live_windows_<label>): every window, late finals included.
func mountWeb(s *api.Server, stage string, sizes []window.Size, grace time.Duration) {
	cfg := web.Config{Stage: stage, GraceMs: grace.Milliseconds(), GeneratorSteps: plan.Steps}
	for _, sz := range sizes {
		cfg.Windows = append(cfg.Windows, web.Window{Label: sz.Label, SizeMs: sz.Millis, ConsumeEvent: live.ConsumeWindowsEvent(sz), LiveEvent: live.WindowsEvent(sz)})
	}
	web.New(cfg).Mount(s)
}
