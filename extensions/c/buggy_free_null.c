/* free-null: frees whatever GetData left in the pointer, even after a failure. */
#include "routing_skeleton.h"

static void bug_init(void)
{
    LPBYTE buffer = NULL;
    DWORD n = 0;
    /* No value is stored under this GUID: GetData fails and buffer stays NULL. */
    g_get_data(0, DEV_ID_SRC_FAX, STATUS_GUID, &buffer, &n);
    g_free_buffer(buffer); /* BUG: FreeBuffer(NULL) */
}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}
