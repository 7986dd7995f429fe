/* foreign-free: "frees" the copy it made itself, with the service's FreeBuffer. */
#include "routing_skeleton.h"

static BYTE g_copy[64];

static void bug_init(void) {}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid;
    memcpy(g_copy, data, size < sizeof(g_copy) ? size : sizeof(g_copy));
    g_free_buffer(g_copy); /* BUG: never came from GetData */
    return NOERROR;
}
