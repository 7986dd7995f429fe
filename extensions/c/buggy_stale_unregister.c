/* stale-unregister: unregisters its handle twice (it forgets to clear it). */
#include "routing_skeleton.h"

static void bug_init(void)
{
    if (g_handle != NULL) {
        g_unregister(g_handle);
        g_unregister(g_handle); /* BUG: already unregistered */
    }
}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}
