#include <windows.h>
/* A stand-in for Windows 10's bcryptprimitives.dll, which Wine 8 lacks: Rust's std asks
   it for random bytes (HashMap seeds). Only for running Windows test binaries under Wine. */
BOOLEAN WINAPI SystemFunction036(PVOID, ULONG);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
