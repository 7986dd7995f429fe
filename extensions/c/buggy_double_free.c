/* double-free: frees the buffer on the error path and again at the end. */
#include "routing_skeleton.h"

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    LPBYTE buffer = NULL;
    DWORD n = 0;
    (void)device; (void)guid; (void)data; (void)size;
    if (g_get_data(0, DEV_ID_SRC_FAX, FLAGS_GUID, &buffer, &n) != ERROR_SUCCESS) {
        return NOERROR;
    }
    if (n < 8) {
        g_free_buffer(buffer); /* too short: give up... */
    }
    g_free_buffer(buffer); /* BUG: ...and free it again */
    return NOERROR;
}
