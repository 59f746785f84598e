package data_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/mtl-gpu/mtl-gpu/data"
)

func Example() {
	train, err := data.NewCSVReader(strings.NewReader(
		"age,city,income,sector\n30,Leeds,no,A\n50,York,yes,B\n40,Leeds,no,C\n"), "train.csv", data.CSVOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	var opts data.Options
	for _, s := range []string{"income:binary", "sector:multiclass:0.5"} {
		spec, err := data.ParseTaskSpec(s)
		if err != nil {
			fmt.Println(err)
			return
		}
		opts.Tasks = append(opts.Tasks, spec)
	}
	res, err := data.FitSource(context.Background(), train, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	schema := res.Schema
	fmt.Println(schema.EncodedNames())
	fmt.Println(schema.Targets[0].Classes, schema.Targets[1].Classes)

	test, _ := data.NewCSVReader(strings.NewReader("city,age\nYork,abc\n"), "test.csv", data.CSVOptions{})
	_, _, err = schema.EncodeSource(context.Background(), test, data.EncodeOptions{})
	fmt.Println(err)
	// Output:
	// [age city=Leeds city=York]
	// [no yes] [A B C]
	// test.csv:2: column "age" (2): "abc" is not a number
}
