/* buffer-leak, inside a routing method only: careful_method_routing.c's RouteToInbox
 * never frees the settings buffer it reads for each routed fax. Nothing happens at
 * initialisation or in the administration entry points: only routing a fax finds it
 * (--routing-method {A1B2C3D4-0000-4000-8000-00000000ABCD}=RouteToInbox). */
#define METHOD_BUG 1
#include "careful_method_routing.c"
