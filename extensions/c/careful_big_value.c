/* A careful routing extension with a large setting: at every start it stores a 17 MiB
 * value (larger than one trace frame) for its own GUID on device 0 and reads it back.
 * Legal, and it must stay recordable: the trace writes the events that carry it as part
 * frames (format 1.3). */
#include "routing_skeleton.h"

#define BIG_GUID FAXSIM_W("{b16da7a0-5e77-4c1e-9a55-0123456789ab}")
#define BIG_SIZE (17u << 20)

static void bug_init(void)
{
    BYTE *value = (BYTE *)malloc(BIG_SIZE);
    if (value == NULL) {
        return;
    }
    for (DWORD i = 0; i < BIG_SIZE; i++) {
        value[i] = (BYTE)(i % 251u);
    }
    if (g_set_data(faxsim_module_handle(), 0, DEV_ID_SRC_FAX, BIG_GUID, value, BIG_SIZE) == ERROR_SUCCESS) {
        LPBYTE back = NULL;
        DWORD size = 0;
        if (g_get_data(0, DEV_ID_SRC_FAX, BIG_GUID, &back, &size) == ERROR_SUCCESS) {
            g_free_buffer(back);
        }
    }
    free(value);
}

static HRESULT bug_change(DWORD device, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)device; (void)guid; (void)data; (void)size;
    return NOERROR;
}
