/* The whole root filesystem of the demo and bench container: one static binary. */
#include <unistd.h>

int main(void)
{
    static const char msg[] = "Hello from a FROM-scratch container!\n";
    return write(1, msg, sizeof msg - 1) == (ssize_t)(sizeof msg - 1) ? 0 : 1;
}
