/* buffer-overrun: NUL-terminates the value in place, one byte past its end. */
#include "routing_skeleton.h"

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    LPBYTE buffer = NULL;
    DWORD n = 0;
    (void)device; (void)guid; (void)data; (void)size;
    if (g_get_data(0, DEV_ID_SRC_FAX, FLAGS_GUID, &buffer, &n) == ERROR_SUCCESS) {
        buffer[n] = 0; /* BUG: writes the byte after the buffer */
        g_free_buffer(buffer);
    }
    return NOERROR;
}
