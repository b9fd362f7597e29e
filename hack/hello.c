/* The whole root filesystem of the demo and bench container: one static binary.
 * `hello wait` greets, then waits for a signal: a container that stays up, for the README's
 * engine-style and --pause-at walkthroughs. */
#include <unistd.h>

int main(int argc, char **argv)
{
    static const char msg[] = "Hello from a FROM-scratch container!\n";
    if (write(1, msg, sizeof msg - 1) != (ssize_t)(sizeof msg - 1))
        return 1;
    if (argc > 1)
        pause();
    return 0;
}
