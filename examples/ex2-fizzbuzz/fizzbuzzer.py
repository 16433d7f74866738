#!/usr/bin/env python3
# Example 2 server: reads one number per line, answers "N => FizzBuzz" etc.
# Changed from the talk: stdout is a socket, not a terminal, so Python
# buffers it. The talk's version only worked because input() happens to
# flush stdout before it reads; flush=True sends each answer as soon as it
# is printed, whatever the loop does next.
def to_fizzbuzz(n):
    if n % 15 == 0:
        return "FizzBuzz"
    elif n % 3 == 0:
        return "Fizz"
    elif n % 5 == 0:
        return "Buzz"
    else:
        return n

while True:
    try:
        n = int(input())  # Synchronous. We wait for input.
        print("{0} => {1}".format(n, to_fizzbuzz(n)), flush=True)
    except EOFError:
        break
    except ValueError:
        print("error: cannot process input", flush=True)
