/* write-after-free: frees the buffer, then clears the first byte through the stale
 * pointer ("so nobody reads it again"). */
#include "routing_skeleton.h"

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    LPBYTE buffer = NULL;
    DWORD n = 0;
    (void)device; (void)guid; (void)data; (void)size;
    if (g_get_data(0, DEV_ID_SRC_FAX, FLAGS_GUID, &buffer, &n) == ERROR_SUCCESS) {
        g_free_buffer(buffer);
        buffer[0] = 0; /* BUG: the buffer is gone */
    }
    return NOERROR;
}
