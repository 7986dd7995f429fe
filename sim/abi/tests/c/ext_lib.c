/* A tiny extension library for tests/c_header.rs (Unix): it reports the
 * hInst faxsim_module_handle() gives it, in the two ways a host sees it. */
#include "faxsim_ext.h"

static PFAX_EXT_SET_DATA g_set;
static PFAX_EXT_REGISTER_FOR_EVENTS g_reg;

static HRESULT WINAPI on_change(DWORD dev, LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)dev;
    (void)guid;
    (void)data;
    (void)size;
    return NOERROR;
}

FAXSIM_EXPORT HRESULT WINAPI FaxExtInitializeConfig(
    PFAX_EXT_GET_DATA get, PFAX_EXT_SET_DATA set, PFAX_EXT_REGISTER_FOR_EVENTS reg,
    PFAX_EXT_UNREGISTER_FOR_EVENTS unreg, PFAX_EXT_FREE_BUFFER free_buffer)
{
    BYTE value[3] = {7, 8, 9};
    (void)get;
    (void)unreg;
    (void)free_buffer;
    g_set = set;
    g_reg = reg;
    if (g_set(faxsim_module_handle(), 0, DEV_ID_SRC_FAX,
              FAXSIM_W("{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}"), value, sizeof value) !=
        ERROR_SUCCESS) {
        return E_FAIL;
    }
    if (g_reg(faxsim_module_handle(), 0, DEV_ID_SRC_FAX,
              FAXSIM_W("{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}"), on_change) == NULL) {
        return E_FAIL;
    }
    return NOERROR;
}

/* Lets the host ask the library directly. */
FAXSIM_EXPORT HINSTANCE faxsim_test_lib_handle(void);
HINSTANCE faxsim_test_lib_handle(void)
{
    return faxsim_module_handle();
}

/* Not exported: with -fvisibility=hidden the host must not find it. */
int faxsim_test_hidden(void);
int faxsim_test_hidden(void)
{
    return 1;
}
