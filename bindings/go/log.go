package tinydl

/*
#include <stdint.h>
*/
import "C"

import "runtime/cgo"

// LogLevel is the level of a log message.
type LogLevel int32

// Log levels (enum tdl_log_level).
const (
	LogError LogLevel = 0
	LogWarn  LogLevel = 1
	LogInfo  LogLevel = 2
	LogDebug LogLevel = 3
)

// tinydlGoLog receives the library's log messages (through the C trampoline
// of log_sink.go) and hands them to the Go function behind the handle.
//
//export tinydlGoLog
func tinydlGoLog(level C.int32_t, msg *C.char, user C.uintptr_t) {
	defer func() { _ = recover() }() // a panic must not unwind into C
	f, ok := cgo.Handle(uintptr(user)).Value().(func(LogLevel, string))
	if ok && msg != nil {
		f(LogLevel(level), C.GoString(msg))
	}
}
