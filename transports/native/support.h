// What every native link shares:
// - errors that carry errno's name to JavaScript (ThrowErrno);
// - network-namespace switching for the calling thread (setns(2) on CLONE_NEWNET): a socket
//   belongs to the namespace it was created in, so a link opened between enterNetns and
//   leaveNetns lives there for good while the rest of the process stays where it was (also used
//   around the raw-socket package's socket creation);
// - DeviceWatch: a device's index, MTU, MAC and up/down state, read through a socket of the
//   device's namespace (sysfs shows the process's own namespace, not the device's).
#pragma once
#include <napi.h>

namespace wsk {

/** Throws a JavaScript Error carrying code (errno name), errno and syscall, and returns. */
void ThrowErrno(Napi::Env env, const char* syscall, int err, const char* detail = nullptr);

/** Exports enterNetns(name) / leaveNetns() and the DeviceWatch class. */
void InitSupport(Napi::Env env, Napi::Object exports);

}  // namespace wsk
