/* Host for tests/c_header.rs (Unix): loads ext_lib and checks that the
 * library's faxsim_module_handle() is the dli_fbase a host computes. */
#include "faxsim_ext.h"

#include <stdio.h>
#include <string.h>

static int failures;
#define CHECK(c)                                                   \
    do {                                                           \
        if (!(c)) {                                                \
            fprintf(stderr, "host.c:%d: check failed: %s\n", __LINE__, #c); \
            failures++;                                            \
        }                                                          \
    } while (0)

static HINSTANCE seen_set_hinst, seen_reg_hinst;
static DWORD seen_size;
static LPCWSTR seen_guid;
static int token;

static DWORD CALLBACK svc_get(DWORD dev, FAX_ENUM_DEVICE_ID_SOURCE src, LPCWSTR guid, LPBYTE *data,
                              LPDWORD size)
{
    (void)dev;
    (void)src;
    (void)guid;
    (void)data;
    (void)size;
    return ERROR_FILE_NOT_FOUND;
}

static DWORD CALLBACK svc_set(HINSTANCE hinst, DWORD dev, FAX_ENUM_DEVICE_ID_SOURCE src,
                              LPCWSTR guid, LPBYTE data, DWORD size)
{
    (void)dev;
    (void)src;
    (void)data;
    seen_set_hinst = hinst;
    seen_guid = guid;
    seen_size = size;
    return ERROR_SUCCESS;
}

static HANDLE CALLBACK svc_reg(HINSTANCE hinst, DWORD dev, FAX_ENUM_DEVICE_ID_SOURCE src,
                               LPCWSTR guid, PFAX_EXT_CONFIG_CHANGE cb)
{
    (void)dev;
    (void)src;
    (void)guid;
    (void)cb;
    seen_reg_hinst = hinst;
    return &token;
}

static DWORD CALLBACK svc_unreg(HANDLE h)
{
    (void)h;
    return ERROR_SUCCESS;
}

static VOID CALLBACK svc_free(LPVOID p)
{
    (void)p;
}

static void *symbol(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (p == NULL) {
        fprintf(stderr, "dlsym(%s) failed: %s\n", name, dlerror());
    }
    return p;
}

int main(int argc, char **argv)
{
    void *lib, *init_sym, *handle_sym;
    PFAX_EXT_INITIALIZE_CONFIG init;
    HINSTANCE (*lib_handle)(void);
    Dl_info info;
    HINSTANCE base;
    size_t i;

    if (argc != 2) {
        fprintf(stderr, "usage: host LIBRARY\n");
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    init_sym = symbol(lib, "FaxExtInitializeConfig");
    handle_sym = symbol(lib, "faxsim_test_lib_handle");
    if (init_sym == NULL || handle_sym == NULL) {
        return 2;
    }
    CHECK(dlsym(lib, "faxsim_test_hidden") == NULL);
    memcpy(&init, &init_sym, sizeof init);
    memcpy(&lib_handle, &handle_sym, sizeof lib_handle);

    /* What a host computes for the library: dli_fbase of any symbol. */
    CHECK(dladdr(init_sym, &info) != 0);
    base = (HINSTANCE)info.dli_fbase;
    CHECK(base != NULL);

    CHECK(lib_handle() == base);
    CHECK(init(svc_get, svc_set, svc_reg, svc_unreg, svc_free) == NOERROR);
    CHECK(seen_set_hinst == base);
    CHECK(seen_reg_hinst == base);
    CHECK(seen_size == 3);

    /* FAXSIM_W gives UTF-16 text with a terminating 0. */
    CHECK(seen_guid != NULL);
    if (seen_guid != NULL) {
        const char *want = "{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}";
        for (i = 0; want[i] != '\0'; i++) {
            CHECK(seen_guid[i] == (WCHAR)want[i]);
        }
        CHECK(seen_guid[i] == 0);
    }

    /* The host's own copy names the host, not the library. */
    CHECK(faxsim_module_handle() != NULL);
    CHECK(faxsim_module_handle() != base);

    if (failures == 0) {
        printf("ok %p\n", (void *)base);
    }
    dlclose(lib);
    return failures == 0 ? 0 : 1;
}
