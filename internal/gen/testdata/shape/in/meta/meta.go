// Package meta is another package of the schema's module.
package meta

// Meta travels inside the state: its fields are part of the state's shape.
type Meta struct {
	Tag   string `json:"tag"`
	Level int    `json:"level"`
}
