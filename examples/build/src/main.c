#include <stdio.h>
#include "mini.h"

int main(void) {
    int x = 5;
    int total = m_add(x) + m_sub(x) + m_mul(x) + m_dbl(x) + m_sq(x) + m_neg(x) + m_abs(-x)
        + m_max(x) + m_min(x) + m_mod(x) + m_inc(x) + m_sum(x);
    printf("mini ok %d\n", total);
    return 0;
}
