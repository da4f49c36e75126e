#ifndef MINI_H
#define MINI_H

int m_add(int x);
int m_sub(int x);
int m_mul(int x);
int m_dbl(int x);
int m_sq(int x);
int m_neg(int x);
int m_abs(int x);
int m_max(int x);
int m_min(int x);
int m_mod(int x);
int m_inc(int x);
int m_sum(int x);

#endif
