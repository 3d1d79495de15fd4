#!/usr/bin/env python3
"""suite_schedule.py CI_LOG: replays the per-test times of a deploy/test.sh log (its three ctest
runs, before e487a9e: plain, ASan unit+sim, ASan integration) through ctest -j2's rule (the highest
COST that can run starts whenever a slot is free; the integration tests hold one lock) with the old
and the new COST values, and prints each stage's modelled wall time. The old rule reproduces the
fresh-root CI run's 1519 s exactly. It ignores CPU contention between the two slots.
Example: python3 tools/suite_schedule.py /work/ci-logs/fresh-881c994.log"""
import re,sys
log=open(sys.argv[1]).read().split(chr(10))
def times(lines):
    t={}
    for l in lines:
        m=re.search(r'Test +#\d+: (\S+) \.+.*?([\d.]+) sec',l)
        if m: t[m.group(1)]=float(m.group(2))
    return t
ix=[i for i,l in enumerate(log) if 'Total Test time' in l]
s1=times(log[:ix[0]]); s3a=times(log[ix[0]:ix[1]]); s3b=times(log[ix[1]:ix[2]])
def sched(tests,cost,lock,j=2):
    # tests: name->time; ctest: at each free slot start highest-cost runnable
    order=sorted(tests,key=lambda n:-cost(n))
    slots=[0.0]*j; running=[]; t=0.0; pending=list(order); lockheld_until=0.0; held=False
    events=[]  # (end,name)
    import heapq
    now=0.0; free=j; heap=[]; lockbusy=False
    while pending or heap:
        started=True
        while free>0 and started:
            started=False
            for n in pending:
                if n in lock and lockbusy: continue
                pending.remove(n); free-=1
                if n in lock: lockbusy=True
                heapq.heappush(heap,(now+tests[n],n)); started=True; break
        end,n=heapq.heappop(heap); now=end; free+=1
        if n in lock: lockbusy=False
    return now
def old_cost1(n):
    fault={'test_corruption','test_corruption_control','test_disk_faults','test_fsync_guard_control','test_power_loss','test_power_loss_control','test_snapshot_damage','test_snapshot_damage_control','test_recover'}
    b=n.split('/')[1]
    if n.startswith('integration/'):
        if b=='test_deb_contents': return 90
        return 1000 if b in fault else 50
    if n.startswith('sim/'): return 100
    if n=='fuzz/smoke': return 80
    return tests1.get(n,0)*0  # unit: 0 on a fresh tree
def new_cost1(n):
    b=n.split('/')[1]
    if n.startswith('integration/'):
        if b=='test_deb_contents': return 90
        return old_cost1(n) if old_cost1(n)==1000 else 500
    if n=='sim/test_sim_crash': return 110
    return old_cost1(n)
tests1=s1
lock1={n for n in s1 if n.startswith('integration/') and n!='integration/test_deb_contents'}
print('stage1 old schedule model %.0f s (log: 1519)'%sched(s1,old_cost1,lock1))
print('stage1 new COST, same times %.0f s'%sched(s1,new_cost1,lock1))
s1b=dict(s1); s1b['integration/test_fsync_guard_control']-=45; s1b['integration/test_power_loss_control']-=50
print('stage1 new COST, controls shortened (fsync -45 s, power-loss -50 s) %.0f s'%sched(s1b,new_cost1,lock1))
s3=dict(s3a); s3.update(s3b)
lock3={n for n in s3 if n.startswith('integration/')}
print('stage3 old: %.0f + %.0f s'%(sched(s3a,lambda n:100 if n.startswith('sim/') else 0,set()), sched(s3b,lambda n:50,lock3,j=1)))
print('stage3 one ctest, same times %.0f s'%sched(s3,lambda n:500 if n.startswith('integration/') else (110 if n=='sim/test_sim_crash' else (100 if n.startswith('sim/') else 0)),lock3))
print('integration chain stage1: %.0f s; others %.0f s'%(sum(s1[n] for n in lock1), sum(v for n,v in s1.items() if n not in lock1)))
