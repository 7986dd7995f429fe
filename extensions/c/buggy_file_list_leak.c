/* buffer-leak, on the file-list path only: careful_file_routing.c's enumerator reads the
 * settings for each file a routing method added and never frees the buffer. A service
 * whose FAX_ROUTE_CALLBACKROUTINES routines fail (FaxRouteAddFile, FaxRouteEnumFiles)
 * never reaches it; routing a fax through StoreInFolder does
 * (--routing-method {A1B2C3D4-0000-4000-8000-000000000001}=StoreInFolder). */
#define FILE_BUG 1
#include "careful_file_routing.c"
