./vtprune --threads 2 train --out /tmp/t4/r1-colour-q4 --batch 16 --questions 4 --types colour --clip-steps 0 --steps 300 --lr 1e-3 --log-every 20 --val 200
