/* extension-crashed: aborts when it is told of a change (validate it with --isolate). */
#include "routing_skeleton.h"

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    abort(); /* BUG */
}
