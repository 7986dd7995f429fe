/* buffer-leak: reads its flag on every notification and never frees the buffer. */
#include "routing_skeleton.h"

static DWORD g_flag;

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    LPBYTE buffer = NULL;
    DWORD n = 0;
    (void)device; (void)guid; (void)data; (void)size;
    if (g_get_data(0, DEV_ID_SRC_FAX, FLAGS_GUID, &buffer, &n) == ERROR_SUCCESS &&
        n >= sizeof(DWORD)) {
        memcpy(&g_flag, buffer, sizeof(DWORD));
    } /* BUG: no g_free_buffer(buffer) */
    return NOERROR;
}
