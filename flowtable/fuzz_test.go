package flowtable

import "testing"

// FuzzOps interprets the input as a sequence of operations on a small key
// space and checks the table against a map after each one.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 1, 1, 2, 2, 0, 3})
	f.Add([]byte{4, 0, 0, 0, 1, 0, 1, 0, 2, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		max := int(ops[0]%40) + 1
		tab := New[int](max, intKey)
		model := map[Key]*int{}
		vals := intVals(64)
		for i := 1; i+1 < len(ops); i += 2 {
			n := uint32(ops[i+1] % 64)
			k := keyN(n)
			switch ops[i] % 3 {
			case 0:
				_, present := model[k]
				want := !present && len(model) < max
				if tab.Insert(k, &vals[n]) != want {
					t.Fatalf("op %d: Insert(%d) != %v", i, n, want)
				}
				if want {
					model[k] = &vals[n]
				}
			case 1:
				_, present := model[k]
				if tab.Delete(k) != present {
					t.Fatalf("op %d: Delete(%d) != %v", i, n, present)
				}
				delete(model, k)
			case 2:
				if tab.Get(k) != model[k] {
					t.Fatalf("op %d: Get(%d) wrong", i, n)
				}
			}
		}
		if tab.Len() != len(model) {
			t.Fatalf("Len %d, model %d", tab.Len(), len(model))
		}
		seen := 0
		tab.Range(func(k Key, v *int) bool {
			if model[k] != v {
				t.Fatalf("Range: %v not in model", k)
			}
			seen++
			return true
		})
		if seen != len(model) {
			t.Fatalf("Range saw %d, model %d", seen, len(model))
		}
	})
}
