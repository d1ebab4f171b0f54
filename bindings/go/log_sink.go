package tinydl

/*
#include <stdint.h>
#include <tiny-dl/tiny-dl.h>

extern void tinydlGoLog(int32_t level, char *msg, uintptr_t user);

static void tinydl_log_trampoline(int32_t level, const char *msg, void *user)
{
    tinydlGoLog(level, (char *)msg, (uintptr_t)user);
}

// Installs (handle != 0) or removes (handle == 0) the Go log sink.
static tdl_status tinydl_set_log(tdl_ctx *ctx, int32_t max_level, uintptr_t handle)
{
    return tdl_ctx_set_log(ctx, handle ? tinydl_log_trampoline : NULL, max_level, (void *)handle);
}
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
)

// SetLog sends the library's messages of level maxLevel or more severe to f
// (nil removes the sink). f runs on the goroutine that made the call that logs;
// a panic in f is recovered and ignored.
func (c *Context) SetLog(maxLevel LogLevel, f func(level LogLevel, message string)) error {
	raw, err := c.ptr()
	if err != nil {
		return err
	}
	defer runtime.KeepAlive(c)
	var h cgo.Handle
	if f != nil {
		h = cgo.NewHandle(f)
	}
	err = call(func() C.tdl_status { return C.tinydl_set_log(raw, C.int32_t(maxLevel), C.uintptr_t(h)) })
	if err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	if c.log != 0 {
		c.log.Delete()
	}
	c.log = h
	return nil
}
